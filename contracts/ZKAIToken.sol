// SPDX-License-Identifier: GPL-3.0-or-later
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title ZKAI Token
/// @notice The network's utility token: users pay for queries in it, nodes stake it, contributors
///         are rewarded in it. ERC-20 with ERC-2612 permit (so a query pays in one transaction)
///         and a hard supply cap.
/// @dev The only privileged power is minting (below the cap) by MINTER_ROLE, used for reward
///      emissions. No account can move, freeze or burn another account's balance.
contract ZKAIToken is ERC20, ERC20Permit, ERC20Capped, AccessControl {
    /// @notice Role allowed to mint new tokens, up to the cap.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants and revokes MINTER_ROLE).
    /// @param cap_ Maximum total supply, in wei units of the token.
    /// @param initialHolder Receives `initialSupply` at deployment.
    /// @param initialSupply Minted to `initialHolder` at deployment; must not exceed `cap_`.
    constructor(
        address admin,
        uint256 cap_,
        address initialHolder,
        uint256 initialSupply
    ) ERC20("ZKAI Token", "ZKAI") ERC20Permit("ZKAI Token") ERC20Capped(cap_) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (initialSupply > 0) {
            _mint(initialHolder, initialSupply);
        }
    }

    /// @notice Mint `amount` to `to`. Reverts with ERC20ExceededCap past the cap.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Capped) {
        super._update(from, to, value);
    }
}
