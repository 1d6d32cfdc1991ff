{
  kind: 'ConfigMap',
  apiVersion: 'v1',
  metadata: { name: 'object', labels: { zeta: 'last', alpha: 'first' } },
  // Hidden fields are not output.
  helper:: 'hidden',
  data: {
    file: std.thisFile,
    sum: std.toString(1 + 2),
    nested: std.manifestJsonEx({ b: 1, a: [true, null] }, ' '),
  },
}
