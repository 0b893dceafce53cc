"""Circuit generators. usage: python gen.py KIND N  > file.circom   (KIND: fix | mont | edw | pos)"""
import sys, json
from bjj import *
TAG = b"zkai/update-commitment/v1"
BITS = 16
def gens(n):
    return [hash_to_point(TAG, j) for j in range(n)], hash_to_point(TAG + b"/blinding", 0), hash_to_point(TAG + b"/offset", 0)
HEAD = 'pragma circom 2.1.5;\ninclude "bitify.circom";\ninclude "comparators.circom";\n'
def weight_part():
    # weight w private, 0 <= w <= cap (cap public, < 2^16)
    return """    signal input w; signal input cap;
    component wr = Num2Bits(16); wr.in <== w;
    component wc = LessEqThan(16); wc.in[0] <== w; wc.in[1] <== cap; wc.out === 1;
"""
def fix(n):
    G, H, _ = gens(n + 1)
    s = HEAD + 'include "escalarmulfix.circom";\ninclude "babyjub.circom";\n'
    s += f"template Commit() {{\n    signal input u[{n}]; signal input r;\n    signal output C[2];\n" + weight_part()
    s += f"    component b[{n}]; component m[{n}]; component acc[{n}];\n"
    s += "    component rb = Num2Bits(251); rb.in <== r;\n"
    s += f"    component mr = EscalarMulFix(251, [{H[0]}, {H[1]}]);\n    for (var i = 0; i < 251; i++) mr.e[i] <== rb.out[i];\n"
    for j in range(n):
        s += f"    b[{j}] = Num2Bits(16); b[{j}].in <== u[{j}] + 32768;\n"
        s += f"    m[{j}] = EscalarMulFix(16, [{G[j][0]}, {G[j][1]}]);\n    for (var i = 0; i < 16; i++) m[{j}].e[i] <== b[{j}].out[i];\n"
        prev = ("mr.out[0]", "mr.out[1]") if j == 0 else (f"acc[{j-1}].xout", f"acc[{j-1}].yout")
        s += f"    acc[{j}] = BabyAdd(); acc[{j}].x1 <== {prev[0]}; acc[{j}].y1 <== {prev[1]}; acc[{j}].x2 <== m[{j}].out[0]; acc[{j}].y2 <== m[{j}].out[1];\n"
    # remove shift offset 2^15 * sum G  (constant add)
    K = ID
    for g in G[:n]: K = add(K, g)
    K = neg(mul(32768, K))
    s += f"    component fin = BabyAdd(); fin.x1 <== acc[{n-1}].xout; fin.y1 <== acc[{n-1}].yout; fin.x2 <== {K[0]}; fin.y2 <== {K[1]};\n"
    s += "    C[0] <== fin.xout; C[1] <== fin.yout;\n}\ncomponent main {public [cap]} = Commit();\n"
    return s

MONT_LIB = """
template MAdd() {
    signal input x1; signal input y1; signal input x2; signal input y2;
    signal output x3; signal output y3;
    signal lam;
    lam <-- (y2 - y1) / (x2 - x1);
    lam * (x2 - x1) === y2 - y1;
    x3 <== lam * lam - 168698 - x1 - x2;
    y3 <== lam * (x1 - x3) - y1;
}
// Montgomery (u,v) -> Edwards, then + constant Edwards point (kx, ky): complete add with a constant
template FinishEdw(kx, ky) {
    signal input u; signal input v; signal output out[2];
    signal x; signal y;
    x <-- u / v; x * v === u;
    y <-- (u - 1) / (u + 1); y * (u + 1) === u - 1;
    signal tau; tau <== (x * ky) * (y * kx);    // beta*gamma with beta=x*ky, gamma=y*kx (linear)
    out[0] <-- (x * ky + y * kx) / (1 + 168696 * tau);
    (1 + 168696 * tau) * out[0] === x * ky + y * kx;
    out[1] <-- ((-168700 * x + y) * (kx + ky) + 168700 * x * ky - y * kx) / (1 - 168696 * tau);
    (1 - 168696 * tau) * out[1] === (-168700 * x + y) * (kx + ky) + 168700 * x * ky - y * kx;
}
"""
def windows(nbits):
    ws, o = [], 0
    while nbits - o > 0:
        rem = nbits - o
        w = 3 if rem >= 3 and rem != 4 else 2 if rem >= 2 else 1
        ws.append((o, w)); o += w
    return ws
def mont(n, blind_bits=251):
    """Single Montgomery accumulator: acc = Q + sum over windows of (k+1)*2^o*G ; finish: to Edwards, + (-K)."""
    G, H, Q = gens(n + 1)
    s = HEAD + MONT_LIB
    s += f"template Commit() {{\n    signal input u[{n}]; signal input r;\n    signal output C[2];\n" + weight_part()
    s += f"    component b[{n}];\n    component rb = Num2Bits({blind_bits}); rb.in <== r;\n"
    terms = [("rb.out", H, blind_bits)] + [(f"b[{j}].out", G[j], BITS) for j in range(n)]
    for j in range(n):
        s += f"    b[{j}] = Num2Bits(16); b[{j}].in <== u[{j}] + 32768;\n"
    acc_u, acc_v = to_mont(Q)
    cur = (str(acc_u), str(acc_v))
    K = Q
    lines, nadd, nsel = [], 0, 0
    for bits, P, nb in terms:
        for (o, w) in windows(nb):
            B = mul(1 << o, P)
            tab = [to_mont(mul(k + 1, B)) for k in range(1 << w)]
            K = add(K, B)
            bv = [f"{bits}[{o + i}]" for i in range(w)]
            sel = []
            for c in (0, 1):
                T = [t[c] for t in tab]
                if w == 1:
                    sel.append(f"{T[0]} + ({(T[1]-T[0]) % p}) * {bv[0]}")
                elif w == 2:
                    sel.append(f"{T[0]} + ({(T[1]-T[0]) % p}) * {bv[0]} + ({(T[2]-T[0]) % p}) * {bv[1]} + ({(T[3]-T[2]-T[1]+T[0]) % p}) * s{nsel}")
                else:
                    f = f"{T[0]} + ({(T[1]-T[0]) % p}) * {bv[0]} + ({(T[2]-T[0]) % p}) * {bv[1]} + ({(T[3]-T[2]-T[1]+T[0]) % p}) * s{nsel}"
                    g = f"{T[4]} + ({(T[5]-T[4]) % p}) * {bv[0]} + ({(T[6]-T[4]) % p}) * {bv[1]} + ({(T[7]-T[6]-T[5]+T[4]) % p}) * s{nsel}"
                    sel.append((f, g))
            if w >= 2:
                lines.append(f"    signal s{nsel}; s{nsel} <== {bv[0]} * {bv[1]};")
            if w == 3:
                for c, (f, g) in enumerate(sel):
                    lines.append(f"    signal t{nsel}_{c}; t{nsel}_{c} <== (({g}) - ({f})) * {bv[2]} + {f};")
                sx, sy = f"t{nsel}_0", f"t{nsel}_1"
            else:
                sx, sy = sel
            lines.append(f"    component a{nadd} = MAdd(); a{nadd}.x1 <== {cur[0]}; a{nadd}.y1 <== {cur[1]}; a{nadd}.x2 <== {sx}; a{nadd}.y2 <== {sy};")
            cur = (f"a{nadd}.x3", f"a{nadd}.y3")
            nadd += 1; nsel += 1
    # K = Q + sum of all window bases; also remove the 2^15 shift of every coordinate
    S = ID
    for g in G[:n]: S = add(S, g)
    K = add(K, mul(32768, S))
    nK = neg(K)
    s += "\n".join(lines) + "\n"
    s += f"    component fin = FinishEdw({nK[0]}, {nK[1]}); fin.u <== {cur[0]}; fin.v <== {cur[1]};\n"
    s += "    C[0] <== fin.out[0]; C[1] <== fin.out[1];\n}\ncomponent main {public [cap]} = Commit();\n"
    return s
def pos(n):
    s = HEAD + 'include "poseidon.circom";\n'
    per = 15
    k = (n + per - 1) // per
    s += f"template Commit() {{\n    signal input u[{n}]; signal input r;\n    signal output h;\n" + weight_part()
    s += f"    component b[{n}];\n    signal packed[{k}];\n"
    for j in range(n):
        s += f"    b[{j}] = Num2Bits(16); b[{j}].in <== u[{j}] + 32768;\n"
    for i in range(k):
        terms = " + ".join(f"(u[{j}] + 32768) * {1 << (16 * (j - i * per))}" for j in range(i * per, min(n, (i + 1) * per)))
        s += f"    packed[{i}] <== {terms};\n"
    items = ["r", "w"] + [f"packed[{i}]" for i in range(k)]
    # chain: h0 = Poseidon(16 items), h_{t} = Poseidon(h_{t-1}, 15 items)
    t, cur = 0, None
    while items:
        take = 16 if cur is None else 15
        chunk, items = items[:take], items[take:]
        ins = ([cur] if cur else []) + chunk
        s += f"    component p{t} = Poseidon({len(ins)});\n" + "".join(f"    p{t}.inputs[{i}] <== {x};\n" for i, x in enumerate(ins))
        cur = f"p{t}.out"; t += 1
    s += f"    h <== {cur};\n}}\ncomponent main {{public [cap]}} = Commit();\n"
    return s
if __name__ == "__main__":
    kind, n = sys.argv[1], int(sys.argv[2])
    print({"fix": fix, "mont": mont, "pos": pos}[kind](n))
