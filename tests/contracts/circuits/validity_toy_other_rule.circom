pragma circom 2.1.0;

// validity_toy.circom with another rule (OTHER_VALIDITY_RULE of tests/contracts/zk.py): its
// proofs must fail on a version whose rule is VALIDITY_RULE.
include "validity_toy_template.circom";

component main {public [ruleHash, assignment]} = ValidityToy(2, 9876543210987654321);
