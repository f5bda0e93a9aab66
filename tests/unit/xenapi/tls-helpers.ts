/** Test PKI: a CA and host certificates made with node-forge, plus a tiny HTTPS JSON-RPC host. */
import * as crypto from "node:crypto";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import forge from "node-forge";

export interface Pem {
  cert: string;
  key: string;
}

function keyPair(): { pub: forge.pki.rsa.PublicKey; priv: forge.pki.rsa.PrivateKey; privPem: string } {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const privPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return {
    pub: forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString()),
    priv: forge.pki.privateKeyFromPem(privPem),
    privPem,
  };
}

let serial = 1;
function cert(
  cn: string,
  pub: forge.pki.rsa.PublicKey,
  signer: forge.pki.rsa.PrivateKey,
  issuer: forge.pki.CertificateField[] | undefined,
  ext: object[],
): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  c.serialNumber = (serial++).toString(16).padStart(2, "0");
  c.validity.notBefore = new Date(Date.now() - 86_400_000);
  c.validity.notAfter = new Date(Date.now() + 86_400_000 * 30);
  const subject = [{ name: "commonName", value: cn }];
  c.setSubject(subject);
  c.setIssuer(issuer ?? subject);
  c.setExtensions(ext);
  c.sign(signer, forge.md.sha256.create());
  return c;
}

export function makeCa(): Pem & { forgeKey: forge.pki.rsa.PrivateKey; forgeCert: forge.pki.Certificate } {
  const k = keyPair();
  const c = cert("pulumi-xen test CA", k.pub, k.priv, undefined, [
    { name: "basicConstraints", cA: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true },
  ]);
  return { cert: forge.pki.certificateToPem(c), key: k.privPem, forgeKey: k.priv, forgeCert: c };
}

/** A host certificate signed by `ca`, valid for the given SANs (type 2 = DNS, 7 = IP). */
export function makeHostCert(
  ca: ReturnType<typeof makeCa>,
  altNames: Array<{ type: 2 | 7; value?: string; ip?: string }>,
): Pem {
  const k = keyPair();
  const c = cert("xapi host", k.pub, ca.forgeKey, ca.forgeCert.subject.attributes, [
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames },
  ]);
  return { cert: forge.pki.certificateToPem(c), key: k.privPem };
}

export function fingerprint256(pem: string): string {
  return new crypto.X509Certificate(pem).fingerprint256;
}

export interface TestHost {
  url: string;
  requests: Array<{ method: string; params: unknown[] }>;
  close(): Promise<void>;
}

/** An HTTPS host answering session.login_with_password and VM.get_all; records every request it parses. */
export async function startHttpsHost(pem: Pem): Promise<TestHost> {
  const requests: TestHost["requests"] = [];
  const server = https.createServer({ key: pem.key, cert: pem.cert }, (req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const call = JSON.parse(body) as { id: number; method: string; params: unknown[] };
      requests.push({ method: call.method, params: call.params });
      const result =
        call.method === "session.login_with_password"
          ? "OpaqueRef:s"
          : call.method === "VM.get_all"
            ? ["OpaqueRef:vm"]
            : "";
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", result, id: call.id }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
