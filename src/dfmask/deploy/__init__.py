"""Deployment: ONNX export, INT8 quantization (Quark, ORT, nndct), compile, runners, benchmark.

See docs/deploy.md for the flow per ``deploy.target`` and the lab-server steps.
"""
