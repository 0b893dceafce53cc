pragma circom 2.1.0;

include "share_linear.circom";

// 3 outputs: a second output size through the same market and adapter.
component main = ShareLinear(2, 3);
