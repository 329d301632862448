"""AppTest: each Compare card ends with its run's numerics (issue 18): the shipped runs state theirs, and on a machine
whose numerics differ the card says so in orange; a run stored before provenance was recorded says that instead."""


def test_each_card_states_its_runs_numerics(app):
    at = app("pages/4_compare.py")
    notes = [c.value for c in at.caption if "umerics" in c.value and "before runs recorded" not in c.value]
    assert len(notes) == len(at.multiselect(key="cmp_runs").value) == 2
    for note in notes:  # the shipped runs: fused kernels, ATen at AVX2 (their reconstructed provenance)
        assert note.startswith(("Numerics: fused CPU kernels", ":orange[Numerics differ from this machine's"))
        assert "\n" not in note
