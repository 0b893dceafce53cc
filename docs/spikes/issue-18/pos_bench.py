import sys, time, random, secrets, json, struct
from pathlib import Path
import groth16py
from zkai.circuits.witness import calculate_witness
from bjj import p, L
d, n = Path(sys.argv[1]), int(sys.argv[2])
t = time.perf_counter(); pk, vk = groth16py.setup_circom(str(d / "circuit.circom"), [groth16py.circomlib_path(2)]); print("setup_circom_s", round(time.perf_counter() - t, 2))
pk.save(str(d / "pk.bin")); data = (d / "pk.bin").read_bytes(); st = data.find(b"\x00asm\x01\x00\x00\x00"); (ln,) = struct.unpack("<Q", data[st - 8:st]); (d / "pk.wasm").write_bytes(data[st:st + ln])
ver = groth16py.Verifier(vk)
for i in range(3):
    u = [random.randrange(-2**15, 2**15) for _ in range(n)]
    inputs = {"u": [x % p for x in u], "r": secrets.randbelow(L), "w": 1234, "cap": 5000}
    t0 = time.perf_counter(); proof = groth16py.prove(pk, inputs); t1 = time.perf_counter()
    calculate_witness(d / "pk.wasm", inputs, d / "w.wtns"); t2 = time.perf_counter(); proof2 = groth16py.prove_wtns(pk, str(d / "w.wtns")); t3 = time.perf_counter()
    w = (d / "w.wtns").read_bytes(); h = int.from_bytes(w[w.find(b"\x02\x00\x00\x00", 12) + 12 + 32: w.find(b"\x02\x00\x00\x00", 12) + 12 + 64], "little")  # wire 1
    print(json.dumps({"wasmi_prove_s": round(t1 - t0, 3), "node_witness_s": round(t2 - t1, 3), "prove_wtns_s": round(t3 - t2, 3), "verify": ver.verify(bytes(proof2), [h, 5000]), "verify_wasmi_proof": ver.verify(bytes(proof), [h, 5000])}))
