"""Pure-Python reference model of ERC7641.sol's accounting, exact to the wei.

The model mirrors the contract's rules, not its code: balances are tracked per block so a
snapshot taken in block N reads the end of block N-1; revenue is whatever ETH the token holds
beyond its two pools; only the newest SNAPSHOT_CLAIMABLE_NUMBER snapshots are claimable and an
expiring snapshot's unclaimed remainder rolls into the new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SNAPSHOT_CLAIMABLE_NUMBER = 2


class ModelRevert(Exception):
    """The contract would revert with this reason."""


@dataclass
class Snap:
    balances: dict[str, int]
    supply: int
    claimable: int
    claimed: int = 0
    claimers: set[str] = field(default_factory=set)


class ERC7641Model:
    def __init__(self, supply: int, percent: int, interval: int, holder: str, now: int, block: int):
        self.percent = percent
        self.interval = interval
        self.last_snapshot_ts = now
        self.eth = 0  # the token contract's ETH balance
        self.claim_pool = 0
        self.redeem_pool = 0
        self.snaps: list[Snap] = []  # index i holds snapshot id i+1
        self.balances: dict[str, int] = {holder: supply}
        self.supply = supply
        # state at the end of the last block before the current one
        self._block = block
        self._prev_balances = {}
        self._prev_supply = 0

    # -- blocks -------------------------------------------------------------------------
    def at_block(self, block: int) -> None:
        """Tell the model the next operation runs in `block` (>= the last one)."""
        if block > self._block:
            self._prev_balances = dict(self.balances)
            self._prev_supply = self.supply
            self._block = block

    # -- operations ---------------------------------------------------------------------
    def receive(self, amount: int) -> None:
        self.eth += amount

    def transfer(self, frm: str, to: str, amount: int) -> None:
        if self.balances.get(frm, 0) < amount:
            raise ModelRevert("ERC20InsufficientBalance")
        self.balances[frm] = self.balances.get(frm, 0) - amount
        self.balances[to] = self.balances.get(to, 0) + amount

    def snapshot(self, now: int) -> int:
        if not now - self.last_snapshot_ts > self.interval:
            raise ModelRevert("snapshot interval is too short")
        self.last_snapshot_ts = now
        sid = len(self.snaps) + 1
        rolled = 0
        if sid > SNAPSHOT_CLAIMABLE_NUMBER:
            old = self.snaps[sid - SNAPSHOT_CLAIMABLE_NUMBER - 1]
            rolled = old.claimable - old.claimed
        revenue = self.eth - self.claim_pool - self.redeem_pool
        to_claim = revenue * self.percent // 100
        self.claim_pool += to_claim
        self.redeem_pool += revenue - to_claim
        self.snaps.append(Snap(dict(self._prev_balances), self._prev_supply, to_claim + rolled))
        return sid

    def claimable(self, who: str, sid: int) -> int:
        cur = len(self.snaps)
        if not (1 <= sid <= cur and cur - sid < SNAPSHOT_CLAIMABLE_NUMBER):
            raise ModelRevert("snapshot unclaimable")
        s = self.snaps[sid - 1]
        if s.supply == 0:
            return 0
        return s.balances.get(who, 0) * s.claimable // s.supply

    def _claim(self, who: str, sid: int) -> int:
        amount = self.claimable(who, sid)
        s = self.snaps[sid - 1]
        if who in s.claimers:
            raise ModelRevert("already claimed")
        if amount == 0:
            raise ModelRevert("no claimable ETH")
        s.claimers.add(who)
        s.claimed += amount
        self.claim_pool -= amount
        return amount

    def claim_batch(self, who: str, sids: list[int]) -> int:
        """Atomic: on a revert nothing changes."""
        saved = (self.claim_pool, [(s.claimed, set(s.claimers)) for s in self.snaps])
        try:
            total = sum(self._claim(who, sid) for sid in sids)
        except ModelRevert:
            self.claim_pool = saved[0]
            for s, (c, cl) in zip(self.snaps, saved[1]):
                s.claimed, s.claimers = c, cl
            raise
        self.eth -= total
        return total

    def claim(self, who: str, sid: int) -> int:
        return self.claim_batch(who, [sid])

    def redeemable(self, amount: int) -> int:
        return 0 if self.supply == 0 else amount * self.redeem_pool // self.supply

    def burn(self, who: str, amount: int) -> int:
        if self.balances.get(who, 0) < amount:
            raise ModelRevert("ERC20InsufficientBalance")
        r = self.redeemable(amount)
        self.balances[who] = self.balances.get(who, 0) - amount
        self.supply -= amount
        self.redeem_pool -= r
        self.eth -= r
        return r

    # -- invariants ---------------------------------------------------------------------
    def check_solvent(self) -> None:
        live = [s for i, s in enumerate(self.snaps) if len(self.snaps) - (i + 1) < SNAPSHOT_CLAIMABLE_NUMBER]
        outstanding = sum(s.claimable - s.claimed for s in live)
        assert outstanding == self.claim_pool, (outstanding, self.claim_pool)
        assert self.eth >= self.claim_pool + self.redeem_pool
        for s in live:
            # the holders' entitlements can always be paid
            total = sum(b * s.claimable // s.supply for b in s.balances.values()) if s.supply else 0
            assert total <= s.claimable
