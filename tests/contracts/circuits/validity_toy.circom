pragma circom 2.1.0;

// The toy validity circuit for k = 2 and the rule VALIDITY_RULE of tests/contracts/zk.py.
// Public signals: [ruleHash, tag0, commitment0, tag1, commitment1].
include "validity_toy_template.circom";

component main {public [ruleHash, assignment]} = ValidityToy(2, 1234567890123456789);
