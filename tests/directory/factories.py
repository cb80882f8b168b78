import factory

from directory.models import Authenticator, ChannelOfRecord, DirectorySession, Identity, RiskTier


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    username = factory.Sequence(lambda n: f"subject{n}")
    display_name = factory.Faker("name")
    employee_id = factory.Sequence(lambda n: f"E{n:05d}")
    risk_tier = RiskTier.STANDARD
    owner = factory.Maybe(
        factory.LazyAttribute(lambda o: o.risk_tier == RiskTier.SERVICE),
        yes_declaration=factory.SubFactory("tests.directory.factories.IdentityFactory"),
        no_declaration=None,
    )


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelOfRecord

    identity = factory.SubFactory(IdentityFactory)
    kind = ChannelOfRecord.Kind.EMAIL
    address = factory.Sequence(lambda n: f"person{n}@example.test")


class AuthenticatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Authenticator

    identity = factory.SubFactory(IdentityFactory)
    label = factory.Sequence(lambda n: f"Phone {n}")


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DirectorySession

    identity = factory.SubFactory(IdentityFactory)
    client = "Laptop browser"
    started_at = factory.Faker("past_datetime", tzinfo=__import__("datetime").UTC)
