import streamlit as st
st.title("tsne")
