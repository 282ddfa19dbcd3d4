x = [dict(a=[[[[[[[[1]]]]]]]]) for i in range(2)] + [1] * 3
y = 'abc'[1:] + str(int(3.7)) + str(abs(-2))
z = x[0]['a'][0]
