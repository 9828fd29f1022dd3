// The admin server's entry: the CLI starts it when clientPort is set; embedders may too.
export { AdminListenError, startAdminServer, type AdminServer, type AdminServerOptions } from "./server.ts";
