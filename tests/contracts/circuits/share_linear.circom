pragma circom 2.1.0;

// A test circuit with the public-input shape of the project's share circuits:
// public signals [commitment, out[0..M-1]] (outputs are public in declaration order).
//   commitment = Poseidon(...Poseidon(Poseidon(salt, s[0]), s[1])..., m[M-1])  (a Poseidon(2) chain)
//   out[j]     = sum_i W[j][i] * s[i] + m[j]  with the constant W[j][i] = i + j + 1
// It is small on purpose (tests set it up once per run); the real circuits live elsewhere.
include "poseidon.circom";

template ShareLinear(N, M) {
    signal input s[N];
    signal input m[M];
    signal input salt;
    signal output commitment;
    signal output out[M];

    component h[N + M];
    for (var i = 0; i < N + M; i++) {
        h[i] = Poseidon(2);
        h[i].inputs[0] <== i == 0 ? salt : h[i - 1].out;
        h[i].inputs[1] <== i < N ? s[i] : m[i - N];
    }
    commitment <== h[N + M - 1].out;

    for (var j = 0; j < M; j++) {
        var acc = 0;
        for (var i = 0; i < N; i++) {
            acc += (i + j + 1) * s[i];
        }
        out[j] <== acc + m[j];
    }
}
