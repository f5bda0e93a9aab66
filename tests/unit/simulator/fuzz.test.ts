import { SimulatorCore } from "../../../simulator/sim";

/**
 * Bad input never crashes the simulator: every method, called with arguments of the wrong type, unknown or
 * valid refs, odd numbers and strings, answers with a XenAPI error (never an unmapped JavaScript exception,
 * which would surface as INTERNAL_ERROR).
 */
test("every method answers garbage with a XenAPI error, not a crash", async () => {
  const core = new SimulatorCore({ rootPassword: "pw", timeScale: 0, log: () => undefined, seed: 7 });
  const e = core.engine;
  try {
    const host = e.db.refs("host")[0]!;
    const login = await core.call("session.login_with_password", ["root", "pw"], host);
    if (!login.ok) throw login.error;
    const sess = login.value as string;
    const vals: unknown[] = [
      null,
      1,
      -5,
      "x",
      {},
      [],
      "OpaqueRef:NULL",
      true,
      1.5,
      { a: { b: 1 } },
      ["x"],
      "99999999999999999999",
    ];
    const crashes: string[] = [];
    const skip = /^(Async\.|system\.|session\.(login|slave_local|logout|local_logout)|event\.(from|next))/;
    let calls = 0;
    for (const name of core.reg.names()) {
      if (skip.test(name)) continue;
      const def = core.reg.get(name)!;
      for (let k = 0; k < 16; k++) {
        const args = def.params.map((p, i) => {
          if (p.type.startsWith("ref:") && k % 2 === 0) {
            const refs = e.db.refs(p.type.slice(4).replace("?", ""));
            return refs[k % Math.max(1, refs.length)] ?? "OpaqueRef:NULL";
          }
          if (p.type === "int" && k % 3 === 0) return k * 1000;
          if (p.type === "string" && k % 3 === 1) return ["restart", "", "0", "folder", "start"][k % 5];
          return vals[(k * 7 + i * 3 + name.length) % vals.length];
        });
        const r = await core.call(name, [sess, ...args], host);
        calls++;
        if (r.ok || r.error.code !== "INTERNAL_ERROR") continue;
        const msg = r.error.params[0] ?? "";
        if (msg.startsWith("Invalid expression") || msg === "Cannot_eject_master") continue;
        crashes.push(`${name}(${JSON.stringify(args)}): ${msg}`);
      }
    }
    expect(calls).toBeGreaterThan(5000);
    expect(crashes).toEqual([]);
  } finally {
    core.close();
  }
}, 30000);
