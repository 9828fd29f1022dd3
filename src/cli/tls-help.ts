// The help of `goferbroke tls` (`goferbroke tls --help`, `goferbroke help tls`), apart from the
// commands so that the help system can show it without loading the certificate code.

export const DEFAULT_CA_NAME = "GoferBroke CA";
export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_NODE_DAYS = 365;

/** The line of the overview help. */
export const TLS_USAGE = { line: "tls ca|cert create [flags]", summary: "make a cluster CA and node certificates for mutual TLS" };

export const TLS_HELP = `goferbroke tls: certificates for mutual TLS between nodes

Usage:
  goferbroke tls ca create [--out DIR] [--name CN] [--days N] [--force]
      A cluster CA: writes DIR/ca.pem (certificate) and DIR/ca-key.pem (private key, 0600).
      --name CN     the CA's common name (default "${DEFAULT_CA_NAME}")
      --days N      validity in days (default ${DEFAULT_CA_DAYS})

  goferbroke tls cert create --name NODE [--ip IP]... [--dns NAME]... [--ca FILE] [--ca-key FILE]
                             [--out DIR] [--days N] [--force]
      A node certificate signed by the CA: writes DIR/NODE.pem and DIR/NODE-key.pem (0600).
      The certificate names the node (CN=NODE, and DNS:NODE when NODE is a host name), as
      --tls-require-name requires. Peers check the address they dial against the certificate:
      give every IP address (--ip) and host name (--dns) other nodes dial this node at, i.e. the
      host of its -nodeAddr or --advertise. --ip and --dns repeat or take comma-separated lists.
      --ca FILE     the CA certificate (default DIR/ca.pem)
      --ca-key FILE the CA private key (default DIR/ca-key.pem)
      --days N      validity in days (default ${DEFAULT_NODE_DAYS}; at most the CA's remaining validity)

Common flags:
  --out DIR     where to write (default: the current directory; created if missing)
  --force       replace files that exist (default: refuse)

Then run each node with
  --tls-ca=DIR/ca.pem --tls-cert=DIR/NODE.pem --tls-key=DIR/NODE-key.pem --tls-require-name`;

