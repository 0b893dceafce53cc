"""usage: python prove_bench2.py DIR N [runs] -- setup_circom, then witness under Node (zkai witness server,
circuit.wasm taken out of the saved proving key as build.py does) + groth16py.prove_wtns, verify."""
import sys, time, secrets, random, json, os, struct
from pathlib import Path
import groth16py
from zkai.circuits.witness import calculate_witness
from bjj import *
from gen import gens
d, n = Path(sys.argv[1]), int(sys.argv[2]); runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
G, H, Q = gens(n + 1)
t = time.perf_counter()
pk, vk = groth16py.setup_circom(str(d / "circuit.circom"), [groth16py.circomlib_path(2)])
print(json.dumps({"setup_circom_s": round(time.perf_counter() - t, 2), "n_public": vk.n_public}), flush=True)
pk.save(str(d / "pk.bin")); (d / "vk.json").write_text(vk.to_json())
data = (d / "pk.bin").read_bytes(); st = data.find(b"\x00asm\x01\x00\x00\x00"); (ln,) = struct.unpack("<Q", data[st - 8:st])
(d / "pk.wasm").write_bytes(data[st:st + ln]); print("pk MB", round(len(data) / 1e6, 1), "wasm MB", round(ln / 1e6, 1), flush=True)
ver = groth16py.Verifier(vk)
for i in range(runs):
    u = [random.randrange(-2**15, 2**15) for _ in range(n)]
    u[0], u[1] = -2**15, 2**15 - 1
    r = secrets.randbelow(L); w, cap = 1234, 5000
    C = mul(r, H)
    for uj, g in zip(u, G[:n]): C = add(C, mul(uj, g) if uj >= 0 else neg(mul(-uj, g)))
    inputs = {"u": [x % p for x in u], "r": r, "w": w, "cap": cap}
    t0 = time.perf_counter(); calculate_witness(d / "pk.wasm", inputs, d / "w.wtns"); t1 = time.perf_counter()
    proof = groth16py.prove_wtns(pk, str(d / "w.wtns")); t2 = time.perf_counter()
    ok = ver.verify(bytes(proof), [C[0], C[1], cap])
    bad = ver.verify(bytes(proof), [C[0], (C[1] + 1) % p, cap])
    print(json.dumps({"run": i, "witness_node_s": round(t1 - t0, 3), "prove_wtns_s": round(t2 - t1, 3), "total_s": round(t2 - t0, 3), "verify_ok": ok, "tampered_ok": bad}), flush=True)
# out-of-range coordinate must fail
u[5] = 2**15
try:
    calculate_witness(d / "pk.wasm", {"u": [x % p for x in u], "r": r, "w": w, "cap": cap}, d / "bad.wtns"); print("out-of-range: witness computed (BAD)")
except Exception as e: print("out-of-range u=2^15 rejected:", type(e).__name__, str(e)[:120])
