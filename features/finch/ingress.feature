@ingress
Feature: Finch ingress
  finch.example.com serves the frontend and api.finch.example.com the backend, over TLS from
  Let's Encrypt with HTTPS enforced, 100 requests per minute per client, CORS on.

  Background:
    Given the system "finch"

  @offline @declared @normal
  Scenario: The Ingress routes the two hosts to frontend and backend
    Source: Kubernetes Architecture Documentation (Finch) § Architecture Diagram
    Then the Ingress "finch-production/finch-ingress" routes host "finch.example.com" path "/" to the Service "finch-frontend" on port 80
    And the Ingress "finch-production/finch-ingress" routes host "api.finch.example.com" path "/" to the Service "finch-backend" on port 80
    And every backend of the Ingress "finch-production/finch-ingress" is a Service port in its own namespace

  @offline @declared @normal
  Scenario: TLS from Let's Encrypt with HTTPS enforced, rate limiting at 100 per minute and CORS
    Source: Kubernetes Architecture Documentation (Finch) § Ingress Configuration › Security Features
    Then the Ingress "finch-production/finch-ingress" terminates TLS for host "finch.example.com" with the Secret "finch-tls"
    And the Ingress "finch-production/finch-ingress" terminates TLS for host "api.finch.example.com" with the Secret "finch-tls"
    And the Ingress "finch-production/finch-ingress" declares:
      | field                                                              | value            |
      | metadata.annotations["cert-manager.io/cluster-issuer"]             | letsencrypt-prod |
      | metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"]   | "true"           |
      | metadata.annotations["nginx.ingress.kubernetes.io/limit-rpm"]      | "100"            |
      | metadata.annotations["nginx.ingress.kubernetes.io/enable-cors"]    | "true"           |

  @offline @declared @normal
  Scenario: The backend Service forwards port 80 to the backend pods
    Source: Kubernetes Architecture Documentation (Finch) § Ingress Configuration › Load Balancing
    Then the Service "finch-production/finch-backend" exposes port 80 to target port http
    And the Service "finch-production/finch-backend" selects the pods of the Deployment "finch-production/finch-backend"
    And the Service "finch-production/finch-frontend" selects the pods of the Deployment "finch-production/finch-frontend"

  @offline @declared @normal
  Scenario: Staging is protected by basic authentication
    Source: Kubernetes Architecture Documentation (Finch) § Namespace Organization › Staging Namespace (finch-staging)
    Then the Ingress "finch-staging/finch-staging-ingress" declares metadata.annotations["nginx.ingress.kubernetes.io/auth-type"] = basic
    And the Ingress "finch-staging/finch-staging-ingress" sets metadata.annotations["nginx.ingress.kubernetes.io/auth-secret"]

  @live @observed @normal
  Scenario: The two hosts reach the frontend and the backend through the ingress on a live cluster
    Source: Kubernetes Architecture Documentation (Finch) § Architecture Diagram
    Given the system is deployed
    Then requests for host "finch.example.com" path "/" reach the Service "finch-production/finch-frontend" through the ingress
    And requests for host "api.finch.example.com" path "/" reach the Service "finch-production/finch-backend" through the ingress

  @live @observed @critical
  Scenario: TLS is served for both hosts, plain HTTP is redirected and HSTS is sent on a live cluster
    Source: Kubernetes Architecture Documentation (Finch) § Ingress Configuration › SSL/TLS Termination
    Given the system is deployed
    Then the ingress serves TLS for host "finch.example.com" with the certificate of the Secret "finch-production/finch-tls"
    And the ingress serves TLS for host "api.finch.example.com" with the certificate of the Secret "finch-production/finch-tls"
    And the ingress redirects plain HTTP for host "finch.example.com" to HTTPS
    And the ingress redirects plain HTTP for host "api.finch.example.com" to HTTPS
    And HTTPS responses for host "finch.example.com" carry an HSTS header
    And HTTPS responses for host "api.finch.example.com" carry an HSTS header

  @live @observed @load @normal @slow
  Scenario: Each client gets at most 100 requests a minute through the ingress on a live cluster
    Source: Kubernetes Architecture Documentation (Finch) § Ingress Configuration › Security Features
    Given the system is deployed
    Then the ingress lets each client make at most 100 requests per minute to host "api.finch.example.com"
