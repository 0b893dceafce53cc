import tenseal as ts, numpy as np, time, json
def prime_1mod(m, lo):
    k = lo // m + 1
    while True:
        q = k * m + 1
        if all(q % d for d in range(2, int(q ** 0.5) + 1)): return q
        k += 1
n, NC = 650, 100
for poly, coeff in ((4096, None), (8192, None)):
    t_mod = prime_1mod(2 * poly, 2 ** 24)
    ctx = ts.context(ts.SCHEME_TYPE.BFV, poly_modulus_degree=poly, plain_modulus=t_mod)
    rng = np.random.default_rng(2)
    U = rng.integers(-2**15, 2**15, size=(NC, n)); U[:, 0] = -2**15; U[:, 1] = 2**15 - 1
    t = time.perf_counter(); cts = [ts.bfv_vector(ctx, [int(x) for x in row]) for row in U]; tenc = (time.perf_counter() - t) / NC
    ser = cts[0].serialize()
    t = time.perf_counter(); acc = cts[0].copy()
    for c in cts[1:]: acc += c
    tsum = time.perf_counter() - t
    t = time.perf_counter(); dec = acc.decrypt(); tdec = time.perf_counter() - t
    want = [int(x) for x in U.sum(axis=0)]
    pub = ctx.copy(); pub.make_context_public()
    print(json.dumps({"N": poly, "plain_modulus": t_mod, "encrypt_ms_each": round(tenc * 1e3, 2), "sum_of_100_ms": round(tsum * 1e3, 1),
        "decrypt_ms": round(tdec * 1e3, 2), "exact": dec == want, "extremes": [dec[0], dec[1]], "ciphertext_bytes": len(ser),
        "public_context_bytes": len(pub.serialize()), "slots": poly}))
