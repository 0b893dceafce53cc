pragma circom 2.1.0;

include "poseidon.circom";

// A toy user validity circuit with the public-input shape the query market builds for a version
// with an input rule: [ruleHash, tag_0, c_0, tag_1, c_1, ..., tag_{k-1}, c_{k-1}] (in this order;
// `assignment[j]` = (tag_j, c_j) flattens to it). It proves ruleHash is its one rule (a constant)
// and c_j = Poseidon(tag_j, secret_j) for private secrets: a proof holds for one query's tags, one
// set of round-1 commitments and one rule. The real validity circuits live in zkai.circuits.
template ValidityToy(k, rule) {
    signal input ruleHash;
    signal input assignment[k][2];
    signal input secret[k];

    ruleHash === rule;
    component commit[k];
    for (var j = 0; j < k; j++) {
        commit[j] = Poseidon(2);
        commit[j].inputs[0] <== assignment[j][0];
        commit[j].inputs[1] <== secret[j];
        assignment[j][1] === commit[j].out;
    }
}
