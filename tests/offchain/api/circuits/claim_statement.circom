pragma circom 2.1.0;

// The public statement of a v2 claim (tag, n, T_n, O_{n-1}, O_n) and nothing else: enough for the
// API's tests, which need real proofs that the market's factory verifier accepts for the inputs
// the market computes, not the part circuit's work (that is zkai.circuits.part's, tested there).
template ClaimStatement() {
    signal input tag;
    signal input rounds;
    signal input inputTranscript;
    signal input prevOutputTranscript;
    signal input outputTranscript;
    signal input secret;
    signal square;
    square <== secret * secret;
}

component main {public [tag, rounds, inputTranscript, prevOutputTranscript, outputTranscript]} =
    ClaimStatement();
