@ingress
Feature: ITDO ERP ingress
  api.itdo-erp.com reaches the API gateway and app.itdo-erp.com the frontend, over TLS from
  cert-manager, HTTPS enforced, rate-limited to 100.

  Background:
    Given the system "itdo_erp"

  @offline @declared @normal
  Scenario: The Ingress routes the two hosts over TLS to the gateway and the frontend
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Ingress and Load Balancing › Ingress Configuration
    Then the Ingress "itdo-erp-prod/itdo-erp-ingress" routes host "api.itdo-erp.com" path "/" to the Service "api-gateway" on port 80
    And the Ingress "itdo-erp-prod/itdo-erp-ingress" routes host "app.itdo-erp.com" path "/" to the Service "frontend-app" on port 80
    And the Ingress "itdo-erp-prod/itdo-erp-ingress" terminates TLS for host "api.itdo-erp.com" with the Secret "itdo-erp-tls"
    And the Ingress "itdo-erp-prod/itdo-erp-ingress" terminates TLS for host "app.itdo-erp.com" with the Secret "itdo-erp-tls"
    And every backend of the Ingress "itdo-erp-prod/itdo-erp-ingress" is a Service port in its own namespace
    And the Service "itdo-erp-prod/api-gateway" exposes port 80 to target port 8080
    And the Service "itdo-erp-prod/frontend-app" exposes port 80 to target port 3000

  @offline @declared @normal
  Scenario: HTTPS is enforced and certificates come from letsencrypt-prod
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Ingress and Load Balancing › Ingress Configuration
    Then the Ingress "itdo-erp-prod/itdo-erp-ingress" declares:
      | field                                                            | value            |
      | metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"] | "true"           |
      | metadata.annotations["cert-manager.io/cluster-issuer"]           | letsencrypt-prod |

  @offline @declared @normal @known_gap @gap:itdo-rate-limit-annotation-does-not-exist
  Scenario: Clients are rate-limited to 100 requests
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Ingress and Load Balancing › Ingress Configuration
    Then the Ingress "itdo-erp-prod/itdo-erp-ingress" sets metadata.annotations["nginx.ingress.kubernetes.io/limit-rps"]

  @live @observed @normal
  Scenario: The two hosts reach the gateway and the frontend over TLS on a live cluster
    Source: Kubernetes Architecture Design for ITDO ERP v2 § Ingress and Load Balancing › Ingress Configuration
    Given the system is deployed
    Then requests for host "api.itdo-erp.com" path "/" reach the Service "itdo-erp-prod/api-gateway" through the ingress
    And requests for host "app.itdo-erp.com" path "/" reach the Service "itdo-erp-prod/frontend-app" through the ingress
    And the ingress serves TLS for host "api.itdo-erp.com" with the certificate of the Secret "itdo-erp-prod/itdo-erp-tls"
    And the ingress serves TLS for host "app.itdo-erp.com" with the certificate of the Secret "itdo-erp-prod/itdo-erp-tls"
    And the ingress redirects plain HTTP for host "api.itdo-erp.com" to HTTPS
    And the ingress redirects plain HTTP for host "app.itdo-erp.com" to HTTPS
