"""Browser tests of ``peersim explore`` (a package, so its conftest is ``ui.conftest``, not ``conftest``)."""
