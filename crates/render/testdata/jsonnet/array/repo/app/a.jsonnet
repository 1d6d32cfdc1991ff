local cm(name) = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name } };
[cm('a-%d' % i) for i in std.range(0, 2)]
