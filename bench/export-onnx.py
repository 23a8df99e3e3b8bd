#!/usr/bin/env python3
"""Exports an official PolaFormer++ variant with random weights to ONNX, and the very same weights to safetensors,
so that bench/run-ort.sh can time this library against ONNX Runtime on a model other than the golden b0.

The model code is NOT ours and is not copied here: it is imported from a checkout of the official repository
(ZacharyMeng/PolaFormerPP @ fd26f5e) given on the command line. The recipe is the one behind
../shared/anchors/pola_b0_golden7.onnx (see ../shared/anchors/README.md): PyTorch 1.13, eval mode, opset 17,
input `input` float32 NCHW [batch, 3, 224, 224] with a dynamic batch axis, output `logits`. Third-party imports of
pola.py and the random, non-trivial weights (and calibrated BatchNorm statistics) come from
../shared/golden/gen_golden.py, so the weights have the same scales as the golden b0's.

Besides the two model files it writes <out>_eval.safetensors: a fixed random input (`input`, NCHW, batch 2) and
the float64 PyTorch logits for it (`logits`), which OrtComparison uses as its agreement input.

Run (Debian's python3-torch 1.13; the onnx package is optional and only used to check the file):
  git clone https://github.com/ZacharyMeng/PolaFormerPP OFFICIAL && git -C OFFICIAL checkout fd26f5e
  python3 bench/export-onnx.py --official OFFICIAL --variant b2 --out ../anchors-local/pola_b2_random
    # writes ../anchors-local/pola_b2_random.onnx, .safetensors and _eval.safetensors (never commit them)
"""
import argparse
import copy
import importlib.util
import json
import os
import struct

import numpy as np
import torch

SEED = 7


def import_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def write_safetensors(path, tensors, description):
    """safetensors: 8-byte little-endian header length, JSON header (padded to 8 bytes), then the raw data."""
    dtypes = {np.dtype('float32'): 'F32', np.dtype('int64'): 'I64'}
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        data = arr.astype(arr.dtype.newbyteorder('<'), copy=False).tobytes(order='C')
        header[name] = {'dtype': dtypes[arr.dtype], 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header['__metadata__'] = {'description': description}
    raw = json.dumps(header, separators=(',', ':')).encode('utf-8')
    raw += b' ' * ((8 - len(raw) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)))
        f.write(raw)
        for data in blobs:
            f.write(data)


def numpy_of(t):
    t = t.detach().contiguous()
    return t.to(torch.float32).numpy() if t.is_floating_point() else t.numpy().astype(np.int64).reshape(tuple(t.shape))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument('--official', required=True, help='checkout of ZacharyMeng/PolaFormerPP (the folder holding polaformer++/)')
    ap.add_argument('--variant', default='b2', choices=['b0', 'b1', 'b2', 'b3', 'b4', 'b5'])
    ap.add_argument('--out', required=True, help='path prefix of the files written (outside the repository)')
    ap.add_argument('--golden-script', default=os.path.join(here, '..', '..', 'shared', 'golden', 'gen_golden.py'))
    args = ap.parse_args()

    golden = import_file('gen_golden', args.golden_script)
    official = golden.load_official(os.path.join(args.official, 'polaformer++', 'models', 'pola.py'))
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    model = getattr(official, 'POLA_' + args.variant)()
    golden.randomize_(model, g)
    golden.calibrate_bn_(model, g)   # leaves the model in eval mode
    model.eval()

    weights = {k: numpy_of(v) for k, v in model.state_dict().items()}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_safetensors(args.out + '.safetensors', weights,
                      f'POLA_{args.variant} random weights keyed as the official state_dict (gen_golden.py recipe, '
                      f'seed {SEED}); the same weights as {os.path.basename(args.out)}.onnx')

    # the fixed agreement input and PyTorch's logits for it, computed in float64 like the golden b0_eval
    images = torch.randn(2, 3, 224, 224, generator=g)
    with torch.no_grad():
        logits64 = copy.deepcopy(model).double().eval()(images.double())
    write_safetensors(args.out + '_eval.safetensors', {'input': numpy_of(images), 'logits': numpy_of(logits64)},
                      f'POLA_{args.variant}: a random input and its float64 PyTorch eval logits with the weights of '
                      f'{os.path.basename(args.out)}.safetensors')

    onnx_path = args.out + '.onnx'
    with torch.no_grad():
        torch.onnx.export(model, images[:1], onnx_path, opset_version=17, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, do_constant_folding=True)
    try:
        import onnx
        onnx.checker.check_model(onnx_path, full_check=True)
        checked = 'onnx.checker passed'
    except ImportError:
        checked = 'onnx package absent: not checked'
    print(f'{args.variant}: {len(weights)} tensors; max |logit| {float(logits64.abs().max()):.3g}; '
          f'{onnx_path} {os.path.getsize(onnx_path)} bytes ({checked})')


if __name__ == '__main__':
    main()
