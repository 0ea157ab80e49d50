"""Who is who: face-recognition encoders (`encoders`), the per-part embed stage
(`embed`, writing `dfmask.schemas.embeddings.EMBEDDINGS`) and identity clustering of
originals (`cluster`). dlib's model files are located by `dfmask.dlib_models`, which
the sample generator shares."""
