local port(name) =
  if name == 'http' then 80
  else error 'unknown port name: ' + name;
{
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'broken' },
  spec: { ports: [{ port: port('https') }] },
}
