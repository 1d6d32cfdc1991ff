{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { stolen: importstr '/etc/hostname' } }
