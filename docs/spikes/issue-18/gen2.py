"""mont circuit, one template per coordinate (smaller wasm functions, for groth16py's wasmi witness)."""
import sys, re
from bjj import *
from gen import gens, HEAD, MONT_LIB, weight_part, windows, BITS
def mont2(n, blind_bits=251):
    G, H, Q = gens(n + 1)
    s = HEAD + MONT_LIB
    body = f"template Commit() {{\n    signal input u[{n}]; signal input r;\n    signal output C[2];\n" + weight_part()
    body += f"    component rb = Num2Bits({blind_bits}); rb.in <== r;\n"
    cur = tuple(map(str, to_mont(Q))); K = Q
    terms = [("r", H, blind_bits)] + [(j, G[j], BITS) for j in range(n)]
    for idx, (name, P, nb) in enumerate(terms):
        t = f"template Term{idx}() {{\n    signal input b[{nb}]; signal input x; signal input y; signal output ox; signal output oy;\n"
        c = ("x", "y"); k = 0
        for (o, w) in windows(nb):
            B = mul(1 << o, P); K = add(K, B)
            tab = [to_mont(mul(q + 1, B)) for q in range(1 << w)]
            bv = [f"b[{o + i}]" for i in range(w)]
            sel = []
            for cc in (0, 1):
                T = [tt[cc] for tt in tab]
                lin = lambda T0, T1, T2, T3: f"{T0} + ({(T1-T0) % p}) * {bv[0]} + ({(T2-T0) % p}) * {bv[1]} + ({(T3-T2-T1+T0) % p}) * s{k}"
                if w == 1: sel.append(f"{T[0]} + ({(T[1]-T[0]) % p}) * {bv[0]}")
                elif w == 2: sel.append(lin(*T[:4]))
                else:
                    f, g = lin(*T[:4]), lin(*T[4:])
                    t += f"    signal t{k}_{cc}; t{k}_{cc} <== (({g}) - ({f})) * {bv[2]} + {f};\n" if cc else ""
                    if cc == 0:
                        t += f"    signal s{k}; s{k} <== {bv[0]} * {bv[1]};\n    signal t{k}_0; t{k}_0 <== (({g}) - ({f})) * {bv[2]} + {f};\n"
                    sel.append(f"t{k}_{cc}")
            if w == 2: t += f"    signal s{k}; s{k} <== {bv[0]} * {bv[1]};\n"
            t += f"    component a{k} = MAdd(); a{k}.x1 <== {c[0]}; a{k}.y1 <== {c[1]}; a{k}.x2 <== {sel[0]}; a{k}.y2 <== {sel[1]};\n"
            c = (f"a{k}.x3", f"a{k}.y3"); k += 1
        t += f"    ox <== {c[0]}; oy <== {c[1]};\n}}\n"
        s += t
        bits = "rb.out" if name == "r" else f"b{name}.out"
        if name != "r":
            body += f"    component b{name} = Num2Bits(16); b{name}.in <== u[{name}] + 32768;\n"
        body += f"    component T{idx} = Term{idx}(); T{idx}.b <== {bits}; T{idx}.x <== {cur[0]}; T{idx}.y <== {cur[1]};\n"
        cur = (f"T{idx}.ox", f"T{idx}.oy")
    S = ID
    for g in G[:n]: S = add(S, g)
    nK = neg(add(K, mul(32768, S)))
    body += f"    component fin = FinishEdw({nK[0]}, {nK[1]}); fin.u <== {cur[0]}; fin.v <== {cur[1]};\n    C[0] <== fin.out[0]; C[1] <== fin.out[1];\n}}\ncomponent main {{public [cap]}} = Commit();\n"
    return s + body
if __name__ == "__main__":
    print(mont2(int(sys.argv[1])))
