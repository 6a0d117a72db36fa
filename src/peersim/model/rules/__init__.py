"""The weekly rules of the model, each a function of the state tables, the week's ledger and the week.

In the order :meth:`peersim.model.PeerSupportModel.step` applies them:

1. :mod:`~peersim.model.rules.staffing`: peer workers draw absence;
2. :mod:`~peersim.model.rules.week`: the week's probabilities from staff state;
3. :mod:`~peersim.model.rules.referral`: ward staff refer, participants are allocated;
4. :mod:`~peersim.model.rules.contacts`: ward visits (with
   :mod:`~peersim.model.rules.ward` feedback), discharge, community sessions;
5. :mod:`~peersim.model.rules.readmission`: readmission hazards;
6. supervisors supervise; :mod:`~peersim.model.rules.staffing` updates strain,
   fidelity and turnover; ward acceptance moves with joint work.
"""
