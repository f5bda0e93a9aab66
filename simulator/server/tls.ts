import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import forge from "node-forge";

export interface TlsMaterial {
  caCert: string;
  caCertPath: string;
  key: string;
  cert: string;
}

function rsaKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  // Node's native generator: forge's pure-JS RSA takes seconds.
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const priv = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: priv, publicKey: forge.pki.setRsaPublicKey(priv.n, priv.e) };
}

function serial(): string {
  return forge.util.bytesToHex(forge.random.getBytesSync(12)).replace(/^[89a-f]/, "1");
}

function makeCa(): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } {
  const keys = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 24 * 3600 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600 * 1000);
  const attrs = [
    { name: "commonName", value: "xen-simulator CA" },
    { name: "organizationName", value: "pulumi-xen simulator" },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey };
}

/**
 * The simulator's CA (kept in `dir` so clients can pin it across restarts) and a fresh server certificate with
 * IP SANs for every host address plus 127.0.0.1 and localhost.
 */
export function tlsMaterial(dir: string, addresses: string[]): TlsMaterial {
  fs.mkdirSync(dir, { recursive: true });
  const caCertPath = path.join(dir, "ca.pem");
  const caKeyPath = path.join(dir, "ca-key.pem");
  let ca: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey };
  if (fs.existsSync(caCertPath) && fs.existsSync(caKeyPath)) {
    ca = {
      cert: forge.pki.certificateFromPem(fs.readFileSync(caCertPath, "utf8")),
      key: forge.pki.privateKeyFromPem(fs.readFileSync(caKeyPath, "utf8")) as forge.pki.rsa.PrivateKey,
    };
  } else {
    ca = makeCa();
    fs.writeFileSync(caKeyPath, forge.pki.privateKeyToPem(ca.key), { mode: 0o600 });
    fs.writeFileSync(caCertPath, forge.pki.certificateToPem(ca.cert));
  }
  const keys = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 24 * 3600 * 1000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600 * 1000);
  cert.setSubject([{ name: "commonName", value: addresses[0] ?? "localhost" }]);
  cert.setIssuer(ca.cert.subject.attributes);
  const ips = [...new Set([...addresses, "127.0.0.1"])];
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, ...ips.map((ip) => ({ type: 7, ip }))] },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return {
    caCert: forge.pki.certificateToPem(ca.cert),
    caCertPath,
    key: forge.pki.privateKeyToPem(keys.privateKey),
    cert: forge.pki.certificateToPem(cert),
  };
}
