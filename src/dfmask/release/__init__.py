"""The mask dataset release: build (`build`), describe (`datasheet`, `manifest`),
orchestrate (`stage`) and tag + push (`publish`). See docs/release.md."""
