pragma circom 2.1.0;

include "share_linear.circom";

// 10 outputs: the shape of the gas target (11 public inputs).
component main = ShareLinear(2, 10);
