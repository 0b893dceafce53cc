"""Homomorphic aggregate check: each contributor i commits C_i = sum u_ij G_j + r_i H (same formula the circuit
proves), encrypts [u_i | 16-bit limbs of r_i | w_i] in one BFV vector; ciphertexts are summed; the key holder
decrypts d (and R = sum r_i, reconstructed from limb sums mod l); anyone checks sum C_i == Commit(d, R)."""
import time, random, secrets, json
import tenseal as ts
from bjj import p, L, A_E, D_E, ID, add as aadd, mul as amul, neg
from gen import gens
def ext(P): return (P[0], P[1], 1, P[0] * P[1] % p)
def eadd(P, Q):
    X1, Y1, Z1, T1 = P; X2, Y2, Z2, T2 = Q
    A = X1 * X2 % p; B = Y1 * Y2 % p; C = D_E * T1 % p * T2 % p; D = Z1 * Z2 % p
    E = ((X1 + Y1) * (X2 + Y2) - A - B) % p; F = (D - C) % p; G = (D + C) % p; H = (B - A_E * A) % p
    return (E * F % p, G * H % p, F * G % p, E * H % p)
def emul(k, P):
    k %= L; R = ext(ID); Q = ext(P)
    while k:
        if k & 1: R = eadd(R, Q)
        Q = eadd(Q, Q); k >>= 1
    return R
def aff(P): zi = pow(P[2], p - 2, p); return (P[0] * zi % p, P[1] * zi % p)
n, NC = 650, 100
G, H, _ = gens(n + 1)
def commit(u, r):
    acc = emul(r, H)
    for uj, g in zip(u, G): acc = eadd(acc, emul(uj, g))
    return aff(acc)
ctx = ts.context(ts.SCHEME_TYPE.BFV, poly_modulus_degree=4096, plain_modulus=16801793)
Cs, cts, U, Rs, W = [], [], [], [], []
tc = te = 0
for i in range(NC):
    u = [random.randrange(-2**15, 2**15) for _ in range(n)]; r = secrets.randbelow(L); w = random.randrange(1, 5000)
    t = time.perf_counter(); Cs.append(commit(u, r)); tc += time.perf_counter() - t
    limbs = [(r >> (16 * k)) & 0xFFFF for k in range(16)]
    t = time.perf_counter(); cts.append(ts.bfv_vector(ctx, u + limbs + [w])); te += time.perf_counter() - t
    U.append(u); Rs.append(r); W.append(w)
acc = cts[0].copy()
for c in cts[1:]: acc += c
dec = acc.decrypt()
d, lsum, wsum = dec[:n], dec[n:n + 16], dec[n + 16]
R = sum(s << (16 * k) for k, s in enumerate(lsum)) % L
t = time.perf_counter(); S = ext(ID)
for C in Cs: S = eadd(S, ext(C))
S = aff(S); expected = commit(d, R); tchk = time.perf_counter() - t
print(json.dumps({"contributors": NC, "python_commit_ms_each(extended coords)": round(tc / NC * 1e3, 1), "encrypt_ms_each": round(te / NC * 1e3, 2),
   "d_exact": d == [sum(col) for col in zip(*U)], "R_ok": R == sum(Rs) % L, "w_sum_ok": wsum == sum(W),
   "aggregate_check": S == expected, "aggregate_check_ms": round(tchk * 1e3, 1),
   "tampered_check": commit([d[0] + 1] + d[1:], R) == S}))
