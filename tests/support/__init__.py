"""What the tests share: fakes of the servers the panel talks to, builders of inputs, the
browser, and the paths of the repository. Imported as `tests.support.<module>`; never a test module."""
