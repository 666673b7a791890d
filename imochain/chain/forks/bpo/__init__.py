"""Blob-parameter-only forks after Osaka (EIP-7892): BPO1 and BPO2 change the blob schedule only."""

from ..osaka import osaka_with_blobs
from ..osaka.constants import BlobSchedule

BPO1_BLOBS = BlobSchedule(target=10, max=15, base_fee_update_fraction=8_346_193)
BPO2_BLOBS = BlobSchedule(target=14, max=21, base_fee_update_fraction=11_684_671)

Bpo1VM = osaka_with_blobs("bpo1", BPO1_BLOBS)
Bpo2VM = osaka_with_blobs("bpo2", BPO2_BLOBS)
