pragma circom 2.1.0;

// A toy circuit with the public-input shape of every version-2 part circuit:
// public signals [tag, n, T, Oprev, O] (in this order). A private witness w binds them:
//   T = tag * w + n,   O = Oprev * w + T * T
// Small on purpose (set up once per test session); the real part circuits live in zkai.circuits.
template AssignmentToy() {
    signal input tag;
    signal input n;
    signal input T;
    signal input Oprev;
    signal input O;
    signal input w;

    signal tw <== tag * w;
    T === tw + n;
    signal ow <== Oprev * w;
    signal tt <== T * T;
    O === ow + tt;
}

component main {public [tag, n, T, Oprev, O]} = AssignmentToy();
