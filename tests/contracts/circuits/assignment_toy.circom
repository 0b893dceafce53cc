pragma circom 2.1.0;

// A toy circuit with the public-input shape of every version-2 part circuit (chunked claims):
// public signals [tag, n0, T0, O0, n, T, Oprev, O] (in this order). A private witness w binds them:
//   T = tag * w + n + n0 * O0 + T0,   O = Oprev * w + T * T
// Small on purpose (set up once per test session); the real part circuits live in zkai.circuits.
template AssignmentToy() {
    signal input tag;
    signal input n0;
    signal input T0;
    signal input O0;
    signal input n;
    signal input T;
    signal input Oprev;
    signal input O;
    signal input w;

    signal tw <== tag * w;
    signal start <== n0 * O0;
    T === tw + n + start + T0;
    signal ow <== Oprev * w;
    signal tt <== T * T;
    O === ow + tt;
}

component main {public [tag, n0, T0, O0, n, T, Oprev, O]} = AssignmentToy();
