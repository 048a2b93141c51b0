@ingress
Feature: CSA Hello external access through one Ingress
  One TLS Ingress for app.csa-hello.example sends /api to the API gateway and everything else to
  the web frontend.

  Background:
    Given the system "csa_hello"

  @offline @declared @normal
  Scenario: The Ingress terminates TLS for app.csa-hello.example and forces HTTPS
    Source: Kubernetes Architecture for CSA Hello § Ingress Configuration (For External Access)
    Then the Ingress "ingress-system/csa-hello-ingress" terminates TLS for host "app.csa-hello.example" with the Secret "csa-hello-tls"
    And the Ingress "ingress-system/csa-hello-ingress" declares:
      | field                                                          | value            |
      | metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"]    | "true"           |
      | metadata.annotations["nginx.ingress.kubernetes.io/proxy-body-size"] | 50m              |
      | metadata.annotations["cert-manager.io/cluster-issuer"]              | letsencrypt-prod |

  @offline @declared @normal
  Scenario: The Ingress routes /api to the API gateway and / to the frontend
    Source: Kubernetes Architecture for CSA Hello § Ingress Configuration (For External Access)
    Then the Ingress "ingress-system/csa-hello-ingress" routes host "app.csa-hello.example" path "/api" to the Service "api-gateway" on port 80
    And the Ingress "ingress-system/csa-hello-ingress" routes host "app.csa-hello.example" path "/" to the Service "frontend" on port 80

  @offline @declared @critical @known_gap @gap:csa-ingress-backends-in-other-namespaces
  Scenario: Every backend of the Ingress resolves to a Service port
    Source: Kubernetes Architecture for CSA Hello § Ingress Configuration (For External Access)
    Then every backend of the Ingress "ingress-system/csa-hello-ingress" is a Service port in its own namespace

  @live @observed @normal
  Scenario: The Ingress serves TLS for app.csa-hello.example and redirects plain HTTP on a live cluster
    Source: Kubernetes Architecture for CSA Hello § Ingress Configuration (For External Access)
    Given the system is deployed
    Then the ingress serves TLS for host "app.csa-hello.example" with the certificate of the Secret "ingress-system/csa-hello-tls"
    And the ingress redirects plain HTTP for host "app.csa-hello.example" to HTTPS

  @live @observed @critical @known_gap @gap:csa-ingress-backends-in-other-namespaces
  Scenario: /api reaches the API gateway and / the frontend through the ingress on a live cluster
    Source: Kubernetes Architecture for CSA Hello § Ingress Configuration (For External Access)
    Given the system is deployed
    Then requests for host "app.csa-hello.example" path "/api" reach the Service "platform-system/api-gateway" through the ingress
    And requests for host "app.csa-hello.example" path "/" reach the Service "frontend-system/frontend" through the ingress
