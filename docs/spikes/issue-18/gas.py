import json, random, secrets, subprocess, time, sys, socket
import groth16py, solcx
from web3 import Web3
from bjj import *
from gen import gens
n = 650; d = "mont2_650"
G, H, Q = gens(n + 1)
pk = groth16py.ProvingKey.load(f"{d}/pk.bin"); vk = groth16py.VerifyingKey.from_snarkjs_file(f"{d}/vk.json")
u = [random.randrange(-2**15, 2**15) for _ in range(n)]; r = secrets.randbelow(L); cap = 5000
C = mul(r, H)
for uj, g in zip(u, G): C = add(C, mul(uj, g) if uj >= 0 else neg(mul(-uj, g)))
proof = bytes(groth16py.prove(pk, {"u": [x % p for x in u], "r": r, "w": 77, "cap": cap}))
pub = [C[0], C[1], cap]
assert groth16py.Verifier(vk).verify(proof, pub)
wds = [int.from_bytes(proof[32 * i:32 * i + 32], "big") for i in range(8)]
src = vk.to_solidity(contract_name="Verifier")
out = solcx.compile_standard({"language": "Solidity", "sources": {"V.sol": {"content": src}}, "settings": {"optimizer": {"enabled": True, "runs": 200}, "evmVersion": "prague", "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}}}}, solc_version="0.8.37")
k = out["contracts"]["V.sol"]["Verifier"]; print(list(out["contracts"]["V.sol"]))
c = {"abi": k["abi"], "bin": k["evm"]["bytecode"]["object"]}
port = 18545 + random.randrange(1000)
anvil = subprocess.Popen(["/work/main/node_modules/.bin/anvil", "--port", str(port), "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("anvil pid", anvil.pid)
try:
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}"))
    for _ in range(50):
        try:
            if w3.is_connected(): break
        except Exception: pass
        time.sleep(0.2)
    acct = w3.eth.accounts[0]
    V = w3.eth.contract(abi=c["abi"], bytecode=c["bin"])
    addr = w3.eth.wait_for_transaction_receipt(V.constructor().transact({"from": acct})).contractAddress
    v = w3.eth.contract(address=addr, abi=c["abi"])
    a, b, cc = [wds[0], wds[1]], [[wds[2], wds[3]], [wds[4], wds[5]]], [wds[6], wds[7]]
    fn = v.functions.verifyProof(a, b, cc, pub)
    ok = fn.call(); bad = v.functions.verifyProof(a, b, cc, [pub[0], pub[1], cap + 1]).call()
    rc = w3.eth.wait_for_transaction_receipt(fn.transact({"from": acct}))
    print(json.dumps({"verifyProof_call": ok, "tampered_call": bad, "tx_gasUsed": rc.gasUsed, "n_public": len(pub)}))
finally:
    anvil.terminate(); anvil.wait()
