"""Ward staff acceptance of peer workers: moved by each ward contact, by joint work and by time."""

from __future__ import annotations

import numpy as np

from peersim.model import constants as c
from peersim.model.state import WardTable


def ward_contacts(
    ward: WardTable, sites: np.ndarray, picks: np.ndarray, good: np.ndarray, rate: float
) -> None:
    """Apply this week's ward contacts, in order, to the staff members they meet.

    Contact ``i`` at site ``sites[i]`` meets the staff member that ``picks[i]``
    (uniform on 0-1) selects. A good contact closes ``rate``
    (``rel_contact_feedback``) of the gap to full acceptance; a poor one removes
    that share of current acceptance (the feedback loop of mechanism 1).
    """
    rows = ward.first_row[sites] + (picks * ward.counts[sites]).astype(np.int64)
    acceptance = ward.acceptance.tolist()
    for row, is_good in zip(rows.tolist(), good.tolist(), strict=True):
        a = acceptance[row]
        acceptance[row] = a + rate * (1.0 - a) if is_good else a - rate * a
    ward.acceptance[:] = acceptance
    np.add.at(ward.good_contacts, rows[good], 1)
    np.add.at(ward.poor_contacts, rows[~good], 1)


def ward_week(ward: WardTable, week: int) -> np.ndarray:
    """Weekly: ongoing joint work raises acceptance, it regresses to its anchor, and some staff leave.

    A member who leaves is replaced at once by a newcomer at the site's baseline
    acceptance, anchored there: the preparation before go-live did not reach
    them, so only joint work and good contacts raise their acceptance.

    Returns
    -------
    numpy.ndarray
        Rows whose member left this week.
    """
    a = ward.acceptance
    a += ward.joint_work_rate * (1.0 - a) + c.ACCEPTANCE_REGRESSION * (ward.anchor - a)
    np.minimum(np.maximum(a, 0.0, out=a), 1.0, out=a)
    left = (ward.u_leave[:, week - 1] < ward.p_leave).nonzero()[0]
    if left.size:
        a[left] = ward.baseline[left]
        ward.anchor[left] = ward.baseline[left]
        ward.leavers[left] += 1
    return left
