// The software version the admin API and metrics report: package.json's, bundled at build time.

import packageJson from "../../package.json" with { type: "json" };

export const SOFTWARE_VERSION: string = packageJson.version;
