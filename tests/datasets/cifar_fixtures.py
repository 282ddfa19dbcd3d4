#!/usr/bin/python3
"""Small CIFAR-10/100 folders in the python-version layout, pickled as the real files are.

The real batches were written by Python 2's cPickle, protocol 2: dict keys and names are byte strings
(SHORT_BINSTRING/BINSTRING), b'data' is a numpy uint8 array [N, 3072] (numpy.core.multiarray._reconstruct,
then BUILD with (1, shape, dtype('u1'), False, raw bytes)), labels are lists of ints. Python 3's pickle
cannot emit that layout (it writes bytes through _codecs.encode under protocol 2), so this writes the opcodes
itself and checks every file with pickle.loads(..., encoding='latin1') and numpy.

Usage: cifar_fixtures.py make DIR          -> DIR/cifar10/cifar-10-batches-py, DIR/cifar100/cifar-100-python
       cifar_fixtures.py mmpretrain DIR     (run by a Python with MMPretrain 1.2) prints MMPretrain's CIFAR10 and
                                            CIFAR100 train/test samples: index, label, sum of pixels, first 3
                                            bytes, shape (the format of tests/datasets/cifar_harness.c)
       cifar_fixtures.py check DIR GOLDEN HARNESS [--mmpretrain PYTHON]
                                            makes DIR, runs HARNESS on it and compares with GOLDEN (made by
                                            'mmpretrain' on the same fixtures: cifar_golden.txt) and, with
                                            PYTHON, with MMPretrain run now
"""
import pickle
import struct
import sys

import numpy as np


class W:
    def __init__(self):
        self.b = bytearray(b'\x80\x02')
        self.memo = 0

    def put(self):
        self.memo += 1
        self.b += b'q' + bytes([self.memo]) if self.memo < 256 else b'r' + struct.pack('<I', self.memo)

    def s(self, v):  # a Python 2 str
        v = v.encode('latin1') if isinstance(v, str) else v
        self.b += (b'U' + bytes([len(v)]) if len(v) < 256 else b'T' + struct.pack('<I', len(v))) + v
        self.put()

    def i(self, v):
        if 0 <= v < 256:
            self.b += b'K' + bytes([v])
        elif 0 <= v < 65536:
            self.b += b'M' + struct.pack('<H', v)
        else:
            self.b += b'J' + struct.pack('<i', v)

    def list(self, items, f):
        self.b += b']'
        self.put()
        if items:
            self.b += b'('
            for x in items:
                f(x)
            self.b += b'e'

    def array(self, a):
        assert a.dtype == np.uint8 and a.flags.c_contiguous
        self.b += b'cnumpy.core.multiarray\n_reconstruct\n'
        self.put()
        self.b += b'cnumpy\nndarray\n'
        self.put()
        self.b += b'K\x00\x85U\x01b\x87R'
        self.put()
        self.b += b'(K\x01'
        for d in a.shape:
            self.i(d)
        self.b += b'\x86' if a.ndim == 2 else b''
        self.b += b'cnumpy\ndtype\n'
        self.put()
        self.b += b'U\x02u1K\x00K\x01\x87R'
        self.put()
        self.b += b'(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89'
        raw = a.tobytes()
        self.b += b'T' + struct.pack('<I', len(raw)) + raw
        self.b += b'tb'

    def dict(self, pairs):
        self.b += b'}'
        self.put()
        self.b += b'('
        for k, f in pairs:
            self.s(k)
            f()
        self.b += b'u.'
        return bytes(self.b)


def batch(rng, n, label_keys, classes, name):
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = {k: [int(x) for x in rng.integers(0, c, size=n)] for k, c in zip(label_keys, classes)}
    w = W()
    pairs = [('batch_label', lambda: w.s(name))]
    for k in label_keys:
        pairs.append((k, lambda k=k: w.list(labels[k], w.i)))
    pairs.append(('data', lambda: w.array(data)))
    pairs.append(('filenames', lambda: w.list([f'img_{i:05d}.png' for i in range(n)], w.s)))
    blob = w.dict(pairs)
    back = pickle.loads(blob, encoding='latin1')
    assert (back['data'] == data).all() and back['data'].shape == (n, 3072)
    assert all(back[k] == labels[k] for k in label_keys)
    return blob


def meta(keys_names):
    w = W()
    blob = w.dict([(k, lambda v=v: w.list(v, w.s)) for k, v in keys_names])
    back = pickle.loads(blob, encoding='latin1')
    assert all(back[k] == v for k, v in keys_names)
    return blob


def make(out):
    import os
    rng = np.random.default_rng(15)
    d10 = os.path.join(out, 'cifar10', 'cifar-10-batches-py')
    os.makedirs(d10, exist_ok=True)
    for i in range(1, 6):  # 5 train batches of 3 images, a test batch of 4
        open(os.path.join(d10, f'data_batch_{i}'), 'wb').write(
            batch(rng, 3, ['labels'], [10], f'training batch {i} of 5'))
    open(os.path.join(d10, 'test_batch'), 'wb').write(batch(rng, 4, ['labels'], [10], 'testing batch 1 of 1'))
    names10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
    open(os.path.join(d10, 'batches.meta'), 'wb').write(meta([('label_names', names10)]))
    d100 = os.path.join(out, 'cifar100', 'cifar-100-python')
    os.makedirs(d100, exist_ok=True)
    keys = ['fine_labels', 'coarse_labels']
    open(os.path.join(d100, 'train'), 'wb').write(batch(rng, 6, keys, [100, 20], 'training batch 1 of 1'))
    open(os.path.join(d100, 'test'), 'wb').write(batch(rng, 4, keys, [100, 20], 'testing batch 1 of 1'))
    open(os.path.join(d100, 'meta'), 'wb').write(
        meta([('fine_label_names', [f'fine{i}' for i in range(100)]),
              ('coarse_label_names', [f'coarse{i}' for i in range(20)])]))


def mmpretrain(root):
    # MMPretrain checks the md5 of every batch against the real files' sums; the fixture's differ, so the
    # check is bypassed by replacing the module's check_md5 with one that accepts any file.
    import mmpretrain.datasets.cifar as cifar
    cifar.check_md5 = lambda *a, **k: True
    for cls, sub in ((cifar.CIFAR10, 'cifar10'), (cifar.CIFAR100, 'cifar100')):
        for split in ('train', 'test'):
            ds = cls(data_root=f'{root}/{sub}', split=split, download=False, lazy_init=False)
            for i in range(len(ds)):
                info = ds.get_data_info(i)
                img = info['img']
                print(cls.__name__, split, i, info['gt_label'], int(img.astype(np.int64).sum()),
                      ' '.join(str(int(x)) for x in img.reshape(-1)[:3]), 'x'.join(map(str, img.shape)))


if __name__ == '__main__':
    if sys.argv[1] == 'make':
        make(sys.argv[2])
    elif sys.argv[1] == 'mmpretrain':
        mmpretrain(sys.argv[2])
    elif sys.argv[1] == 'check':
        import subprocess
        out, golden, harness = sys.argv[2:5]
        make(out)
        got = subprocess.run([harness, out], check=True, capture_output=True, text=True).stdout
        want = [l for l in open(golden).read().splitlines() if not l.startswith('#')]
        if got.splitlines() != want:
            sys.exit(f'tgc differs from {golden}:\n' + got)
        if len(sys.argv) > 6 and sys.argv[5] == '--mmpretrain':
            live = subprocess.run([sys.argv[6], __file__, 'mmpretrain', out], check=True, capture_output=True,
                                  text=True).stdout
            if got != live:
                sys.exit('tgc differs from MMPretrain run now:\n' + got + '---\n' + live)
            print(f'{len(want)} samples equal to MMPretrain run now')
        print(f'{len(want)} samples equal to {golden}')
    else:
        sys.exit('usage: cifar_fixtures.py make DIR | mmpretrain DIR')
