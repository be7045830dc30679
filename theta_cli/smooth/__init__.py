"""Classic smoothers of noisy tracks (Kalman/RTS, adaptive RTS): below ``infer`` so that
``denoise`` can use them (the outlier pre-pass) and ``eval`` can bench them."""
