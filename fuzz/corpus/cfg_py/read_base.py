from mmengine.config import read_base
with read_base():
    from .sub.base3 import *
x = {**base_dict, 'extra': len(names), 'm': max(1, min(4, 2)), 'r': list(range(3)), 's': sum([1, 2])}
y = {k: x[k] for k in ['m', 's'] if k != 'extra'}
z = x['m'] if x['r'] else None

%%%
unused = 1
%%%
unused: 2
%%%
base_dict = dict(a=1, b='two', c=[1.5, -2e3, True, None])
names = ('p', 'q')
