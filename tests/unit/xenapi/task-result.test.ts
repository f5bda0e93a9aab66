import { decodeTaskResult, decodeXmlRpcValue } from "../../../provider/xenapi";

describe("decodeTaskResult", () => {
  test.each([
    ["<value>OpaqueRef:1e2f</value>", "OpaqueRef:1e2f"],
    ["  <value>OpaqueRef:1e2f</value>\n", "OpaqueRef:1e2f"],
    ["<value></value>", ""],
    ["<value/>", ""],
    ["", ""],
    ["   ", ""],
    ["<value><string>OpaqueRef:abc</string></value>", "OpaqueRef:abc"],
    ["<value><string/></value>", ""],
    ["<value>a &amp; b &lt;c&gt; &#65;&#x42;</value>", "a & b <c> AB"],
    ["<value><int>42</int></value>", "42"],
    ["<value><i4>-7</i4></value>", "-7"],
    ["<value><double>0.5</double></value>", "0.5"],
    ["<value><boolean>1</boolean></value>", "true"],
    ["<value><boolean>0</boolean></value>", "false"],
    ["<value><nil/></value>", ""],
    [
      "<value><array><data><value>OpaqueRef:a</value><value><string>OpaqueRef:b</string></value></data></array></value>",
      '["OpaqueRef:a","OpaqueRef:b"]',
    ],
    ["<value><array><data/></array></value>", "[]"],
    [
      "<value><struct><member><name>OpaqueRef:vm</name><value><array><data><value>VM_LACKS_FEATURE</value></data></array></value></member></struct></value>",
      '{"OpaqueRef:vm":["VM_LACKS_FEATURE"]}',
    ],
    ["OpaqueRef:bare", "OpaqueRef:bare"],
  ])("%j -> %j", (xml, expected) => {
    expect(decodeTaskResult(xml)).toBe(expected);
  });

  test.each([
    "<value>",
    "<value><int>x</int></value>",
    "<value><boolean>yes</boolean></value>",
    "<value><bogus>1</bogus></value>",
    "<value>a</value><value>b</value>",
    "<notvalue>a</notvalue>",
    "<value><array><value>a</value></array></value>",
  ])("rejects %j", (xml) => {
    expect(() => decodeTaskResult(xml)).toThrow(/invalid XML-RPC value fragment/);
  });

  test("decodeXmlRpcValue keeps structure", () => {
    expect(
      decodeXmlRpcValue(
        "<value><struct><member><name>n</name><value><int>3</int></value></member><member><name>s</name><value>x</value></member></struct></value>",
      ),
    ).toEqual({ n: 3, s: "x" });
  });
});
