@discovery
Feature: CSA Hello optional service mesh routing
  With Istio, messenger API versions 1 and 2 are routed to their own messenger deployments.

  Background:
    Given the system "csa_hello"

  @offline @declared @minor
  Scenario: The messenger VirtualService sends /api/v1 and /api/v2 to version-specific hosts on 8080
    Source: Kubernetes Architecture for CSA Hello § Service Mesh Integration (Optional, for Complex Deployments)
    Given the system "csa_hello" with its custom resources
    Then the VirtualService "messenger-system/messenger-routes" declares:
      | field                                               | value                |
      | spec.hosts                                          | [messenger-service]  |
      | spec.http[0].match[0].uri.prefix                    | /api/v1              |
      | spec.http[0].route[0].destination.host              | messenger-service-v1 |
      | spec.http[0].route[0].destination.port.number       | 8080                 |
      | spec.http[1].match[0].uri.prefix                    | /api/v2              |
      | spec.http[1].route[0].destination.host              | messenger-service-v2 |
      | spec.http[1].route[0].destination.port.number       | 8080                 |

  @offline @declared @minor @known_gap @gap:csa-mesh-version-hosts-undefined
  Scenario: The version-specific messenger hosts the mesh routes to exist
    Source: Kubernetes Architecture for CSA Hello § Service Mesh Integration (Optional, for Complex Deployments)
    Then the Service "messenger-system/messenger-service-v1" exists
    And the Service "messenger-system/messenger-service-v2" exists
