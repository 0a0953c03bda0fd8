// From registry resources to the network model (providers/model/translate.ts): domains carry what
// their Network names, links resolve to what a route would point at (or say which field is missing),
// prefixes say who owns them, and problems name the object and the field.
import assert from 'node:assert/strict';
import type { Link } from '../../../providers/model/model.ts';
import { buildModel } from '../../../providers/model/translate.ts';
import { AWS_TGW, AWS_TGW_ATTACHMENT, AWS_VPC, awsNetwork, cluster, gcpNetwork, journey3, onpremNetwork, pool } from '../../fixtures/providers/journey3.ts';

describe('network model: translation from Network, Cluster and IPPool', () => {
  const model = buildModel(journey3());

  it('makes one domain per Network with the provider objects it names', () => {
    assert.deepEqual(
      model.domains.map((d) => [d.name, d.provider]),
      [
        ['aws-train-vpc', 'aws'],
        ['gcp-train-vpc', 'gcp'],
        ['onprem-fra', 'onprem'],
      ],
    );
    const [aws, gcp, site] = model.domains;
    assert.ok(aws?.provider === 'aws' && gcp?.provider === 'gcp' && site?.provider === 'onprem');
    assert.deepEqual(
      [aws.region, aws.vpcId, aws.transitGatewayId, aws.transitGatewayAttachmentId, aws.maxRoutesPerTable, aws.routeTables],
      ['us-east-1', AWS_VPC, AWS_TGW, AWS_TGW_ATTACHMENT, 50, { tag: { key: 'causeway.dev/routes', value: 'managed' } }],
    );
    assert.deepEqual([gcp.project, gcp.network, gcp.cloudRouter], ['ml-platform-prod', 'train', { region: 'europe-west4', name: 'train-router' }]);
    assert.deepEqual(
      [site.site, site.asn, site.peers, site.nextHop, site.communities],
      ['fra1', 64512, [{ address: '192.0.2.1', asn: 64600 }], '192.0.2.10', ['64512:100']],
    );
  });

  it('gives every prefix its owner: clusters (given or allocated), pools, and the domains that declare ranges', () => {
    assert.deepEqual(
      model.prefixes.map((p) => `${p.cidr} ${p.owner.kind}/${p.owner.name} ${p.role} ${p.domain ?? '-'}`),
      [
        '10.16.0.0/12 domain/aws-train-vpc declared aws-train-vpc',
        '10.16.0.0/16 cluster/aws-train pods aws-train-vpc',
        '10.17.0.0/20 cluster/aws-train services aws-train-vpc',
        '10.32.0.0/12 domain/onprem-fra declared onprem-fra',
        '10.32.0.0/16 cluster/onprem-inference pods onprem-fra',
        '10.33.0.0/20 cluster/onprem-inference services onprem-fra',
        '10.40.0.0/24 pool/onprem-inference-vips load-balancer onprem-fra',
        '10.48.0.0/12 domain/gcp-train-vpc declared gcp-train-vpc',
        '10.64.0.0/10 pool/cluster-cidrs cluster-cidrs -',
        '10.64.0.0/16 cluster/gcp-train pods gcp-train-vpc',
        '10.65.0.0/20 cluster/gcp-train services gcp-train-vpc',
        '10.255.0.0/16 pool/clusterset-vips clusterset-ips -',
      ],
    );
    assert.deepEqual(
      model.clusters.map((c) => [c.name, c.domain, c.clusterSet, c.podCIDRs]),
      [
        ['aws-train', 'aws-train-vpc', 'default', ['10.16.0.0/16']],
        ['gcp-train', 'gcp-train-vpc', 'default', ['10.64.0.0/16']],
        ['onprem-inference', 'onprem-fra', 'default', ['10.32.0.0/16']],
      ],
    );
    assert.deepEqual(model.problems, []);
  });

  const linkCases: { name: string; network: ReturnType<typeof awsNetwork>; expect: Pick<Link, 'kind' | 'routing'> }[] = [
    {
      name: 'AWS vpn on a transit gateway: a static route to the TGW',
      network: awsNetwork(),
      expect: { kind: 'aws-transit-gateway', routing: { mode: 'static', via: { kind: 'transit-gateway', id: AWS_TGW } } },
    },
    {
      name: 'AWS vpn on a virtual private gateway',
      network: awsNetwork('aws-train-vpc', { transitGatewayId: undefined, transitGatewayAttachmentId: undefined, vpnGatewayId: 'vgw-0a1b2c3d' }),
      expect: { kind: 'aws-vpn', routing: { mode: 'static', via: { kind: 'vpn-gateway', id: 'vgw-0a1b2c3d' } } },
    },
    {
      name: 'AWS transit-gateway link without a TGW id',
      network: awsNetwork(
        'aws-train-vpc',
        { transitGatewayId: undefined, transitGatewayAttachmentId: undefined, vpnGatewayId: 'vgw-0a1b2c3d' },
        { links: [{ to: 'onprem-fra', type: 'transit-gateway' }] },
      ),
      expect: {
        kind: 'aws-transit-gateway',
        routing: { mode: 'unresolved', reason: 'Network "aws-train-vpc" sets no spec.aws.transitGatewayId for its transit-gateway link to "onprem-fra"' },
      },
    },
    {
      name: 'AWS VPC peering: the peering connection is not named by any Network field yet',
      network: awsNetwork('aws-train-vpc', {}, { links: [{ to: 'onprem-fra', type: 'vpc-peering' }] }),
      expect: {
        kind: 'aws-vpc-peering',
        routing: { mode: 'unresolved', reason: 'Network "aws-train-vpc" names no VPC peering connection for its link to "onprem-fra"' },
      },
    },
    {
      name: 'GCP interconnect over the Cloud Router: learned',
      network: gcpNetwork(),
      expect: {
        kind: 'gcp-cloud-router',
        routing: { mode: 'learned', via: { kind: 'cloud-router', id: 'projects/ml-platform-prod/regions/europe-west4/routers/train-router' } },
      },
    },
    {
      name: 'GCP interconnect without a Cloud Router',
      network: gcpNetwork('gcp-train-vpc', { gcp: { project: 'ml-platform-prod', network: 'train' } }),
      expect: {
        kind: 'gcp-cloud-router',
        routing: { mode: 'unresolved', reason: 'Network "gcp-train-vpc" sets no spec.gcp.cloudRouter for its interconnect link to "onprem-fra"' },
      },
    },
    {
      name: 'GCP Classic VPN naming its tunnel: static custom routes to the tunnel; the Cloud Router still advertises',
      network: gcpNetwork('gcp-train-vpc', { links: [{ to: 'onprem-fra', type: 'vpn', vpnTunnel: { region: 'europe-west4', name: 'train-to-fra-1' } }] }),
      expect: {
        kind: 'gcp-cloud-router',
        routing: { mode: 'static', via: { kind: 'vpn-gateway', id: 'projects/ml-platform-prod/regions/europe-west4/vpnTunnels/train-to-fra-1' } },
      },
    },
    {
      name: 'GCP Classic VPN naming its tunnel, no Cloud Router: static, nothing advertised',
      network: gcpNetwork('gcp-train-vpc', {
        gcp: { project: 'ml-platform-prod', network: 'train' },
        links: [{ to: 'onprem-fra', type: 'vpn', vpnTunnel: { region: 'europe-west4', name: 'train-to-fra-1' } }],
      }),
      expect: {
        kind: 'gcp-vpn-tunnel',
        routing: { mode: 'static', via: { kind: 'vpn-gateway', id: 'projects/ml-platform-prod/regions/europe-west4/vpnTunnels/train-to-fra-1' } },
      },
    },
    {
      name: 'GCP VPC peering: the networks exchange routes themselves',
      network: gcpNetwork('gcp-train-vpc', { links: [{ to: 'onprem-fra', type: 'vpc-peering' }] }),
      expect: { kind: 'gcp-vpc-peering', routing: { mode: 'learned', via: { kind: 'vpc-peering', id: 'ml-platform-prod/train->onprem-fra' } } },
    },
  ];
  for (const c of linkCases) {
    it(`resolves links: ${c.name}`, () => {
      const m = buildModel({ networks: [c.network, onpremNetwork('onprem-fra', { links: [] })], clusters: [], pools: [] });
      assert.equal(m.links.length, 1);
      const l = m.links[0];
      assert.deepEqual({ kind: l?.kind, routing: l?.routing }, c.expect);
    });
  }

  it('keeps the ASNs of an on-prem BGP session', () => {
    const bgp = model.links.find((l) => l.id === 'onprem-fra->aws-train-vpc');
    assert.deepEqual([bgp?.kind, bgp?.localAsn, bgp?.peerAsn, bgp?.routing.mode], ['bgp-session', 64512, 64513, 'learned']);
  });

  it('names the object and field of what it cannot use', () => {
    const m = buildModel({
      networks: [awsNetwork('aws-train-vpc', {}, { links: [{ to: 'nowhere', type: 'vpn' }] })],
      clusters: [cluster('lost', 'aws', 'missing-vpc', ['10.1.0.0/16'])],
      pools: [pool('lb', 'LoadBalancer', ['10.9.0.0/24'], 'missing-site')],
    });
    assert.deepEqual(
      m.problems.map((p) => `${p.kind} ${p.name}: ${p.field}: ${p.message}`),
      [
        'Network aws-train-vpc: spec.links[0].to: links to Network "nowhere", which is not a routing domain here',
        'Cluster lost: spec.network: references Network "missing-vpc", which does not exist',
        'IPPool lb: spec.network: references Network "missing-site", which does not exist',
      ],
    );
    assert.deepEqual(m.clusters, []);
  });
});
