"""Who is who: face-recognition encoders (`encoders`), the per-part embed stage
(`embed`, writing `dfmask.schemas.embeddings.EMBEDDINGS`), identity clustering of
originals (`cluster`), and the dlib model files (`dlib_models`)."""
