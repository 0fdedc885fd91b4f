//! The portal in a real browser (Chromium through chromedriver).
