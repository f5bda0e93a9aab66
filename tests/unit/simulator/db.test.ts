import { Db } from "../../../simulator/models/db";
import { defaultRecord } from "../../../simulator/models/schema";

function setup() {
  const db = new Db();
  const saved: { changed: string[]; deleted: string[] }[] = [];
  db.persister = { save: (c, d) => saved.push({ changed: c.map((o) => o.ref), deleted: d }) };
  db.tx(() => {
    db.create("VM", "P", "OpaqueRef:vm", { ...defaultRecord("VM"), uuid: "u-vm" });
    db.create("VDI", "P", "OpaqueRef:vdi", { ...defaultRecord("VDI"), uuid: "u-vdi" });
  });
  return { db, saved };
}

test("creating a VBD links it from VM.VBDs and VDI.VBDs; destroy unlinks", () => {
  const { db } = setup();
  db.tx(() =>
    db.create("VBD", "P", "OpaqueRef:vbd", { ...defaultRecord("VBD"), VM: "OpaqueRef:vm", VDI: "OpaqueRef:vdi" }),
  );
  expect(db.get("VM", "OpaqueRef:vm").VBDs).toEqual(["OpaqueRef:vbd"]);
  expect(db.get("VDI", "OpaqueRef:vdi").VBDs).toEqual(["OpaqueRef:vbd"]);
  db.tx(() => db.destroy("OpaqueRef:vbd"));
  expect(db.get("VM", "OpaqueRef:vm").VBDs).toEqual([]);
  expect(db.get("VDI", "OpaqueRef:vdi").VBDs).toEqual([]);
});

test("a throwing transaction leaves no trace and persists nothing", () => {
  const { db, saved } = setup();
  const gen = db.gen;
  const n = saved.length;
  expect(() =>
    db.tx(() => {
      db.set("OpaqueRef:vm", "name_label", "changed");
      db.create("VBD", "P", "OpaqueRef:vbd", { ...defaultRecord("VBD"), VM: "OpaqueRef:vm", VDI: "OpaqueRef:vdi" });
      db.destroy("OpaqueRef:vdi");
      throw new Error("boom");
    }),
  ).toThrow("boom");
  expect(db.get("VM", "OpaqueRef:vm").name_label).toBe("");
  expect(db.get("VM", "OpaqueRef:vm").VBDs).toEqual([]);
  expect(db.has("OpaqueRef:vbd")).toBe(false);
  expect(db.get("VDI", "OpaqueRef:vdi").uuid).toBe("u-vdi");
  expect(db.byUuidRef("VDI", "u-vdi")).toBe("OpaqueRef:vdi");
  expect(db.gen).toBe(gen);
  expect(saved.length).toBe(n);
});

test("one commit persists every object the transaction touched", () => {
  const { db, saved } = setup();
  db.tx(() => {
    db.set("OpaqueRef:vm", "name_label", "a");
    db.destroy("OpaqueRef:vdi");
  });
  expect(saved.at(-1)).toEqual({ changed: ["OpaqueRef:vm"], deleted: ["OpaqueRef:vdi"] });
});

test("HANDLE_INVALID and UUID_INVALID carry the class", () => {
  const { db } = setup();
  expect(() => db.get("VM", "OpaqueRef:vdi")).toThrow(
    expect.objectContaining({ code: "HANDLE_INVALID", params: ["VM", "OpaqueRef:vdi"] }),
  );
  expect(() => db.byUuidRef("VM", "nope")).toThrow(
    expect.objectContaining({ code: "UUID_INVALID", params: ["VM", "nope"] }),
  );
  expect(() => db.get("VM", "OpaqueRef:vm", "OTHER_POOL")).toThrow(expect.objectContaining({ code: "HANDLE_INVALID" }));
});

test("mutations outside a transaction are refused", () => {
  const { db } = setup();
  expect(() => db.set("OpaqueRef:vm", "name_label", "x")).toThrow("mutation outside a transaction");
});

test("set fields are copy-on-write: earlier readers keep their view, rollback restores", () => {
  const { db } = setup();
  db.tx(() => db.create("VBD", "P", "OpaqueRef:b1", { ...defaultRecord("VBD"), VM: "OpaqueRef:vm" }));
  const seen = db.get("VM", "OpaqueRef:vm").VBDs as string[];
  db.tx(() => {
    db.create("VBD", "P", "OpaqueRef:b2", { ...defaultRecord("VBD"), VM: "OpaqueRef:vm" });
    db.create("VBD", "P", "OpaqueRef:b3", { ...defaultRecord("VBD"), VM: "OpaqueRef:vm" });
  });
  expect(seen).toEqual(["OpaqueRef:b1"]);
  expect(db.get("VM", "OpaqueRef:vm").VBDs).toEqual(["OpaqueRef:b1", "OpaqueRef:b2", "OpaqueRef:b3"]);
  expect(() =>
    db.tx(() => {
      db.create("VBD", "P", "OpaqueRef:b4", { ...defaultRecord("VBD"), VM: "OpaqueRef:vm" });
      db.create("VBD", "P", "OpaqueRef:b5", { ...defaultRecord("VBD"), VM: "OpaqueRef:vm" });
      throw new Error("no");
    }),
  ).toThrow("no");
  expect(db.get("VM", "OpaqueRef:vm").VBDs).toEqual(["OpaqueRef:b1", "OpaqueRef:b2", "OpaqueRef:b3"]);
});

test("objects are found per pool, and follow a pool move", () => {
  const { db } = setup();
  expect(db.refs("VM", "P")).toEqual(["OpaqueRef:vm"]);
  db.tx(() => db.setPool("OpaqueRef:vm", "Q"));
  expect(db.refs("VM", "P")).toEqual([]);
  expect(db.refs("VM", "Q")).toEqual(["OpaqueRef:vm"]);
  expect(() =>
    db.tx(() => {
      db.setPool("OpaqueRef:vm", "R");
      throw new Error("undo");
    }),
  ).toThrow("undo");
  expect(db.refs("VM", "R")).toEqual([]);
  expect(db.refs("VM", "Q")).toEqual(["OpaqueRef:vm"]);
});

test("VM.groups and VM_group.VMs are two sides of one link: set, destroy of either side", () => {
  const { db } = setup();
  db.tx(() => {
    db.create("VM_group", "P", "OpaqueRef:g1", { ...defaultRecord("VM_group"), uuid: "u-g1" });
    db.create("VM_group", "P", "OpaqueRef:g2", { ...defaultRecord("VM_group"), uuid: "u-g2" });
    db.create("VM", "P", "OpaqueRef:vm2", { ...defaultRecord("VM"), uuid: "u-vm2", groups: ["OpaqueRef:g1"] });
  });
  expect(db.get("VM_group", "OpaqueRef:g1").VMs).toEqual(["OpaqueRef:vm2"]);
  db.tx(() => db.set("OpaqueRef:vm", "groups", ["OpaqueRef:g1"]));
  expect(db.get("VM_group", "OpaqueRef:g1").VMs).toEqual(["OpaqueRef:vm2", "OpaqueRef:vm"]);
  db.tx(() => db.set("OpaqueRef:vm", "groups", ["OpaqueRef:g2"]));
  expect(db.get("VM_group", "OpaqueRef:g1").VMs).toEqual(["OpaqueRef:vm2"]);
  expect(db.get("VM_group", "OpaqueRef:g2").VMs).toEqual(["OpaqueRef:vm"]);
  db.tx(() => db.destroy("OpaqueRef:vm"));
  expect(db.get("VM_group", "OpaqueRef:g2").VMs).toEqual([]);
  db.tx(() => db.destroy("OpaqueRef:g1"));
  expect(db.get("VM", "OpaqueRef:vm2").groups).toEqual([]);
  // A rolled-back change leaves both sides as they were.
  expect(() =>
    db.tx(() => {
      db.set("OpaqueRef:vm2", "groups", ["OpaqueRef:g2"]);
      throw new Error("boom");
    }),
  ).toThrow("boom");
  expect(db.get("VM_group", "OpaqueRef:g2").VMs).toEqual([]);
});
