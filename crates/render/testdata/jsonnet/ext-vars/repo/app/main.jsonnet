{
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings-' + std.extVar('env') },
  data: { total: std.toString(std.foldl(function(a, b) a + b, std.extVar('sizes'), 0)) },
}
